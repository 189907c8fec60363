"""Dataset federation: native adapters, face and audio preparation, shards, streaming and mixing.

Submodules import their heavy dependencies (webdataset, albumentations, cv2, dlib, librosa) on
use; ``import holistic.data`` stays cheap.
"""
