"""The output directory of a preparation: what it may replace."""

import json
import os
from typing import Sequence

from torchrec_dlf.data.metadata import FORMAT_NAME, METADATA_FILE
from torchrec_dlf.safe_output import check_output


def check_output_directory(
    directory: str,
    inputs: Sequence[str],
    overwrite: bool = False,
    flag: str = "--output",
) -> None:
    """
    Refuses an output that would destroy something (`torchrec_dlf.safe_output`'s
    rule): an existing directory that is not a prepared dataset (and not empty, unless
    ``overwrite``), a file, or a path that is or holds an input file. Raises
    `torchrec_dlf.user_errors.OutputError`.
    """
    check_output(
        directory,
        flag,
        "dir",
        owned=_is_prepared_dataset,
        overwrite=overwrite,
        inputs=inputs,
    )


def _is_prepared_dataset(directory: str) -> bool:
    # Only an older prepared dataset is ours to replace without --overwrite.
    try:
        with open(os.path.join(directory, METADATA_FILE)) as f:
            return json.load(f).get("format") == FORMAT_NAME
    except (OSError, ValueError, AttributeError):
        return False
