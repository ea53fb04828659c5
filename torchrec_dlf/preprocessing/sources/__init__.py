"""The raw formats that can be prepared, one module per format.

A source module turns its files and options into a
`torchrec_dlf.preprocessing.preparation_plan.PreparationPlan` (``criteo_plan``,
``avazu_plan``, ``bars_plan``, ``libfm_plan``, ``csv_plan``) with the engine's parts
(readers, column parsers, splits) and holds what only its format needs: the Criteo TSV
generator, the libFM reader and field maps, the CSV table schema, and how the options
recorded by a prepared dataset are taken over (``--vocabulary_from``).
"""
