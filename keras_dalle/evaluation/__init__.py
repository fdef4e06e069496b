"""Evaluation: the shapes caption checker."""

from keras_dalle.evaluation.caption_checker import CheckResult, check_caption

__all__ = ["CheckResult", "check_caption"]
