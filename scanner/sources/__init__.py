"""Where model files come from: a directory tree today (``local``), whose walk rules are
in ``walk``. A source lists records, says whether one is unchanged since a prior one,
and gives their bytes to the backends (``scanner.core.source``)."""
