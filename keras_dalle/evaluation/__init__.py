"""Evaluation: the shapes caption checker and the generated-picture evaluation built on it."""

from keras_dalle.evaluation.caption_checker import CheckResult, accuracy, check_caption

__all__ = ["CheckResult", "accuracy", "check_caption"]
