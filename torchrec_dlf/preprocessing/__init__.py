"""Data preparation: raw CTR data (Criteo, Avazu, BARS, libFM, any CSV) -> prepared datasets.

Every source is read in blocks (never a whole file in memory), validated row by row with
exact file/line/field messages, split (random, given, by day), encoded with train-only
vocabularies (id 0 = out of vocabulary) or hashing, and written with
`torchrec_dlf.data.writer.PreparedDatasetWriter` (Parquet splits + metadata.json + the
saved vocabularies). Other raw files can be encoded with a prepared dataset's saved
vocabularies and transforms (`VocabularySource`, ``--vocabulary_from``).
"""

from torchrec_dlf.preprocessing.avazu import avazu_plan  # noqa: F401
from torchrec_dlf.preprocessing.bad_rows import BadRow, BadRowLog  # noqa: F401
from torchrec_dlf.preprocessing.bars import bars_plan  # noqa: F401
from torchrec_dlf.preprocessing.criteo import criteo_plan  # noqa: F401
from torchrec_dlf.preprocessing.criteo_format import write_criteo_tsv  # noqa: F401
from torchrec_dlf.preprocessing.errors import BadRowError, PreparationError  # noqa: F401
from torchrec_dlf.preprocessing.libfm import libfm_plan  # noqa: F401
from torchrec_dlf.preprocessing.options import CommonOptions, SplitOptions  # noqa: F401
from torchrec_dlf.preprocessing.preparation import (  # noqa: F401
    PreparationPlan,
    PreparationResult,
    prepare,
)
from torchrec_dlf.preprocessing.table_schema import TableSchema, csv_plan  # noqa: F401
from torchrec_dlf.preprocessing.vocabulary_source import VocabularySource  # noqa: F401
