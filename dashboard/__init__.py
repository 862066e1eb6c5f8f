"""Each role's home page: the manager's dashboard of jobs, throughput and quality, and the
annotator's, reviewer's and buyer's starting points."""
