# A model from code that runs under either library, whichever is installed.
try:
    import traza as mlflow
except ImportError:
    import mlflow


class CodeModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.factor = context.model_config["factor"]

    def predict(self, context, model_input: list[float], params=None) -> list[float]:
        return [v * self.factor for v in model_input]


mlflow.models.set_model(CodeModel())
