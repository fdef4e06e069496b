package dev.kerasdalle.sample;

/**
 * Best-of-N on the phone: which candidate picture to keep, given the cosine similarities the .tflite
 * `score` signature gave each one (the reranking `generate(..., candidates=N)` does in Python).
 *
 * <p>Plain Java on purpose: it runs unchanged on Android and in a JVM unit test.
 */
public final class Candidates {
  private Candidates() {}

  /**
   * The index of the highest score, the first one on ties (as numpy's argmax in the Python API). A
   * NaN score never wins over a number; if every score is NaN, candidate 0 (the plain sample).
   */
  public static int best(float[] scores) {
    if (scores.length == 0) {
      throw new IllegalArgumentException("no candidates to choose from");
    }
    int best = 0;
    for (int i = 1; i < scores.length; i++) {
      if (scores[i] > scores[best] || (Float.isNaN(scores[best]) && !Float.isNaN(scores[i]))) {
        best = i;
      }
    }
    return best;
  }
}
