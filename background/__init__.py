"""Background work: RQ queues, the job record every queued piece of work has, and the worker."""
