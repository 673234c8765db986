"""Runs on disk: the only code that writes or reads a run folder or the workspace's run table.

* :mod:`~analysis.runs.store`: the run table (:class:`RunStore`: save, list, get, delete);
* :mod:`~analysis.runs.baseline`: a baseline run's folder, read back without refitting;
* :mod:`~analysis.runs.rerank`: a rerank run's folder;
* :mod:`~analysis.runs.compare`: tables comparing a dataset's runs;
* :mod:`~analysis.runs.provenance`: where a run came from (versions, dataset fingerprint);
* :mod:`~analysis.runs.files`: atomic replacement and JSON values for every file written.
"""
