package dev.kerasdalle.sample;

import java.nio.charset.StandardCharsets;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;

/**
 * Prompt text to the int32 ids of the .tflite `generate` signature: the byte tokenizer's contract
 * (keras_dalle/text/byte_tokenizer.py), checked against tests/data/tokenizer_vectors.json.
 *
 * <p>1. NFKC_Casefold (ICU; on Android {@code android.icu.text.Normalizer2.getNFKCCasefoldInstance()}),
 * runs of [\t\n\f\r ] become one space (TensorFlow's RE2 {@code \s}), ASCII whitespace is stripped at
 * both ends (TensorFlow's {@code strings.strip}). 2. UTF-8 bytes, byte b becomes id b + 2.
 * 3. Truncate to maxLength ids. 4. Pad with 0.
 *
 * <p>Plain Java on purpose: it runs unchanged on Android and in a JVM unit test.
 */
public final class PromptEncoder {
  public static final int PAD_ID = 0;
  public static final int BYTE_OFFSET = 2;
  private static final Pattern WHITESPACE_RUN = Pattern.compile("[\\t\\n\\f\\r ]+");
  private static final String ASCII_WHITESPACE = " \t\n\u000b\f\r";

  private final int maxLength;
  private final UnaryOperator<String> nfkcCasefold;

  /**
   * @param maxLength ids per prompt (the model's text_length, the second dim of prompt_ids).
   * @param nfkcCasefold ICU's NFKC_Casefold normalizer (Android's or ICU4J's).
   */
  public PromptEncoder(int maxLength, UnaryOperator<String> nfkcCasefold) {
    if (maxLength < 2) {
      throw new IllegalArgumentException("maxLength must be >= 2, got " + maxLength);
    }
    this.maxLength = maxLength;
    this.nfkcCasefold = nfkcCasefold;
  }

  /** The normalized prompt (step 1). */
  public String normalize(String prompt) {
    String collapsed = WHITESPACE_RUN.matcher(nfkcCasefold.apply(prompt)).replaceAll(" ");
    int start = 0;
    int end = collapsed.length();
    while (start < end && ASCII_WHITESPACE.indexOf(collapsed.charAt(start)) >= 0) {
      start++;
    }
    while (end > start && ASCII_WHITESPACE.indexOf(collapsed.charAt(end - 1)) >= 0) {
      end--;
    }
    return collapsed.substring(start, end);
  }

  /** Ids [maxLength]; throws IllegalArgumentException for a prompt that is empty after normalizing. */
  public int[] encode(String prompt) {
    byte[] bytes = normalize(prompt).getBytes(StandardCharsets.UTF_8);
    if (bytes.length == 0) {
      throw new IllegalArgumentException("prompt must not be empty");
    }
    int[] ids = new int[maxLength]; // zeros: PAD_ID
    for (int i = 0; i < Math.min(bytes.length, maxLength); i++) {
      ids[i] = (bytes[i] & 0xFF) + BYTE_OFFSET;
    }
    return ids;
  }
}
