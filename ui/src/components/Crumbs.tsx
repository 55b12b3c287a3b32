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

/** A link to a run by its name once known (the id's first 8 characters until then). */
export function RunLink({ id }: { id: string }) {
  const run = useAsync(() => api.getRun(id), [id]);
  return (
    <Link to={["runs", id]} title={`Run ${id}`}>
      {run.data?.info.run_name || id.slice(0, 8)}
    </Link>
  );
}
