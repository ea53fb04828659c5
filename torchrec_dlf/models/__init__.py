"""DLRM-style models: DLRM_DLF and its interaction arch, the DCNv2, DeepFM and
first-order baselines. No training and no data code here."""
