package dev.kerasdalle.sample;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import com.ibm.icu.text.Normalizer2;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/**
 * The app's prompt-to-ids and tensor-to-pixels steps against the Python reference's shared vectors
 * (tests/data/tokenizer_vectors.json, tests/data/picture_vectors.json). ICU4J's NFKC_Casefold stands in
 * for android.icu's (same ICU API). System property "vectors.dir" points at tests/data.
 */
public class SharedVectorsTest {
  private static final Path DATA = Paths.get(System.getProperty("vectors.dir", "../../../tests/data"));

  @Test
  public void promptIdsMatchTheTokenizerVectors() throws IOException {
    Map<String, Object> file = asMap(Json.parse(Files.readString(DATA.resolve("tokenizer_vectors.json"), StandardCharsets.UTF_8)));
    int maxLength = ((Number) file.get("max_length")).intValue();
    Normalizer2 nfkcCasefold = Normalizer2.getNFKCCasefoldInstance();
    PromptEncoder encoder = new PromptEncoder(maxLength, nfkcCasefold::normalize);
    List<Object> vectors = asList(file.get("vectors"));
    assertEquals(true, vectors.size() >= 10);
    for (Object item : vectors) {
      Map<String, Object> vector = asMap(item);
      String prompt = (String) vector.get("prompt");
      assertEquals("normalized " + prompt, vector.get("normalized"), encoder.normalize(prompt));
      int[] expected = toInts(asList(vector.get("ids")));
      if (encoder.normalize(prompt).isEmpty()) {
        // The Python layer pads an empty prompt to all PAD ids; the app refuses it (so does the SavedModel).
        assertArrayEquals(new int[maxLength], expected);
        assertThrows(IllegalArgumentException.class, () -> encoder.encode(prompt));
      } else {
        assertArrayEquals("ids of " + prompt, expected, encoder.encode(prompt));
      }
    }
  }

  @Test
  public void emptyPromptsAreRejected() {
    PromptEncoder encoder = new PromptEncoder(8, Normalizer2.getNFKCCasefoldInstance()::normalize);
    assertThrows(IllegalArgumentException.class, () -> encoder.encode(" \t "));
  }

  @Test
  public void theBestCandidateIsTheFirstHighestScore() {
    assertEquals(1, Candidates.best(new float[] {0.1f, 0.5f, 0.5f, -0.2f}));
    assertEquals(0, Candidates.best(new float[] {0.3f}));
    assertEquals(2, Candidates.best(new float[] {Float.NaN, -0.9f, 0.4f}));
    assertEquals(0, Candidates.best(new float[] {Float.NaN, Float.NaN}));
    assertThrows(IllegalArgumentException.class, () -> Candidates.best(new float[0]));
  }

  @Test
  public void pixelsMatchThePictureVectors() throws IOException {
    Map<String, Object> file = asMap(Json.parse(Files.readString(DATA.resolve("picture_vectors.json"), StandardCharsets.UTF_8)));
    int size = ((Number) file.get("size")).intValue();
    int[] rgb = toInts(asList(file.get("rgb")));
    byte[] bytes = new byte[rgb.length];
    for (int i = 0; i < rgb.length; i++) {
      bytes[i] = (byte) rgb[i];
    }
    assertArrayEquals(toInts(asList(file.get("argb"))), Pictures.argbFromRgb(bytes, size));
    assertThrows(IllegalArgumentException.class, () -> Pictures.argbFromRgb(new byte[5], size));
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> asMap(Object value) {
    return (Map<String, Object>) value;
  }

  @SuppressWarnings("unchecked")
  private static List<Object> asList(Object value) {
    return (List<Object>) value;
  }

  private static int[] toInts(List<Object> values) {
    int[] out = new int[values.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = ((Number) values.get(i)).intValue();
    }
    return out;
  }

  /** Just enough JSON for the vector files: objects, arrays, strings (with escapes), integers, true/false/null. */
  static final class Json {
    private final String text;
    private int at;

    private Json(String text) {
      this.text = text;
    }

    static Object parse(String text) {
      Json json = new Json(text);
      Object value = json.value();
      json.skipSpace();
      if (json.at != text.length()) {
        throw new IllegalArgumentException("trailing text at " + json.at);
      }
      return value;
    }

    private void skipSpace() {
      while (at < text.length() && Character.isWhitespace(text.charAt(at))) {
        at++;
      }
    }

    private Object value() {
      skipSpace();
      char c = text.charAt(at);
      if (c == '{') {
        Map<String, Object> map = new LinkedHashMap<>();
        at++;
        skipSpace();
        if (text.charAt(at) == '}') {
          at++;
          return map;
        }
        while (true) {
          skipSpace();
          String key = (String) value();
          skipSpace();
          expect(':');
          map.put(key, value());
          skipSpace();
          if (text.charAt(at++) == '}') {
            return map;
          }
        }
      }
      if (c == '[') {
        List<Object> list = new ArrayList<>();
        at++;
        skipSpace();
        if (text.charAt(at) == ']') {
          at++;
          return list;
        }
        while (true) {
          list.add(value());
          skipSpace();
          if (text.charAt(at++) == ']') {
            return list;
          }
        }
      }
      if (c == '"') {
        return string();
      }
      for (String word : new String[] {"true", "false", "null"}) {
        if (text.startsWith(word, at)) {
          at += word.length();
          return word.equals("null") ? null : Boolean.valueOf(word);
        }
      }
      int start = at;
      while (at < text.length() && "+-0123456789".indexOf(text.charAt(at)) >= 0) {
        at++;
      }
      return Long.parseLong(text.substring(start, at));
    }

    private String string() {
      expect('"');
      StringBuilder out = new StringBuilder();
      while (true) {
        char c = text.charAt(at++);
        if (c == '"') {
          return out.toString();
        }
        if (c != '\\') {
          out.append(c);
          continue;
        }
        char escape = text.charAt(at++);
        switch (escape) {
          case 'n': out.append('\n'); break;
          case 't': out.append('\t'); break;
          case 'r': out.append('\r'); break;
          case 'b': out.append('\b'); break;
          case 'f': out.append('\f'); break;
          case 'u': out.append((char) Integer.parseInt(text.substring(at, at + 4), 16)); at += 4; break;
          default: out.append(escape);
        }
      }
    }

    private void expect(char c) {
      if (text.charAt(at++) != c) {
        throw new IllegalArgumentException("expected " + c + " at " + (at - 1));
      }
    }
  }
}
