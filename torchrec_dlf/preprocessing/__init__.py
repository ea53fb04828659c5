"""Data preparation: raw CTR data (Criteo, Avazu, BARS, libFM, any CSV) -> prepared datasets.

Every source is read in blocks (never a whole file in memory), validated row by row with
exact file/line/field messages, split (random, given, by day), encoded with train-only
vocabularies (id 0 = out of vocabulary) or hashing, and written with
`torchrec_dlf.data.writer.PreparedDatasetWriter` (Parquet splits + metadata.json + the
saved vocabularies). Other raw files can be encoded with a prepared dataset's saved
vocabularies and transforms (`VocabularySource`, ``--vocabulary_from``).
"""

from torchrec_dlf.preprocessing.bad_rows import BadRow, BadRowLog  # noqa: F401
from torchrec_dlf.preprocessing.errors import BadRowError, PreparationError  # noqa: F401
from torchrec_dlf.preprocessing.options import CommonOptions, SplitOptions  # noqa: F401
from torchrec_dlf.preprocessing.preparation import prepare  # noqa: F401
from torchrec_dlf.preprocessing.preparation_plan import PreparationPlan  # noqa: F401
from torchrec_dlf.preprocessing.preparation_result import (  # noqa: F401
    PreparationResult,
)
from torchrec_dlf.preprocessing.sources.avazu import avazu_plan  # noqa: F401
from torchrec_dlf.preprocessing.sources.bars import bars_plan  # noqa: F401
from torchrec_dlf.preprocessing.sources.criteo import (  # noqa: F401
    criteo_plan,
    write_criteo_tsv,
)
from torchrec_dlf.preprocessing.sources.csv import csv_plan  # noqa: F401
from torchrec_dlf.preprocessing.sources.libfm import libfm_plan  # noqa: F401
from torchrec_dlf.preprocessing.sources.table_schema import TableSchema  # noqa: F401
from torchrec_dlf.preprocessing.vocabulary_source import VocabularySource  # noqa: F401
