"""Long work outside the app's script runs: the background job manager
(:mod:`~analysis.jobs.manager`) and the jobs it runs (:mod:`~analysis.jobs.tasks`)."""
