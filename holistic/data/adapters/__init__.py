"""The sources ``holistic federate`` knows: one module per native format, listed explicitly.

Each adapter's ``scan(root, splits=None, **options)`` yields :class:`Sample` and :class:`Reject`
events (see ``_base.py`` for the contract); ``holistic.data.shards.federate`` writes them.
"""

from holistic.data.adapters import (
    afewva,
    affectnet,
    affwild2,
    bp4d,
    disfa,
    emotionet,
    emotionet_compound,
    expw,
    huggingface,
    rafdb,
    table,
)
from holistic.data.adapters._base import Adapter, FaceHint, Reject, Sample, ScanError

__all__ = ["ADAPTERS", "Adapter", "FaceHint", "Reject", "Sample", "ScanError"]

#: Source name (as given to ``holistic federate``) -> adapter.
ADAPTERS: dict[str, Adapter] = {
    "affwild2": affwild2.ADAPTER,
    "affectnet": affectnet.ADAPTER,
    "rafdb": rafdb.ADAPTER,
    "rafdb-compound": rafdb.COMPOUND_ADAPTER,
    "emotionet": emotionet.ADAPTER,
    "emotionet-compound": emotionet_compound.ADAPTER,
    "disfa": disfa.ADAPTER,
    "bp4d": bp4d.ADAPTER,
    "afewva": afewva.ADAPTER,
    "expw": expw.ADAPTER,
    "csv": table.ADAPTER,
    "hf": huggingface.ADAPTER,
}
