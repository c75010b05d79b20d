"""Scoring encoders (CLIP, DINOv2, DINOv3, LongCLIP): one file per encoder, ``base.py`` interface."""
