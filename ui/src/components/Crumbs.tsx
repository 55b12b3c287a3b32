// Breadcrumbs that name things: the experiment's name, not its id.
import * as api from "../api";
import { useAsync } from "../hooks";
import { Link } from "./common";

/** A link to an experiment's runs, by its name once known (its id until then, or if unreadable). */
export function ExperimentLink({ id }: { id: string }) {
  const experiment = useAsync(() => api.getExperiment(id), [id]);
  return (
    <Link to={["experiments", id]} title={`Experiment ${id}`}>
      {experiment.data?.name ?? `Experiment ${id}`}
    </Link>
  );
}
