package dev.kerasdalle.sample;

/** The .tflite `image` output (uint8 [1, S, S, 3], row-major RGB) as ARGB pixels for Bitmap.setPixels. */
public final class Pictures {
  private Pictures() {}

  /** rgb: S * S * 3 bytes -> S * S opaque ARGB ints (0xFFRRGGBB), row by row. */
  public static int[] argbFromRgb(byte[] rgb, int size) {
    if (rgb.length != size * size * 3) {
      throw new IllegalArgumentException("expected " + size * size * 3 + " bytes for " + size + "x" + size + " RGB, got " + rgb.length);
    }
    int[] pixels = new int[size * size];
    for (int i = 0; i < pixels.length; i++) {
      int r = rgb[3 * i] & 0xFF;
      int g = rgb[3 * i + 1] & 0xFF;
      int b = rgb[3 * i + 2] & 0xFF;
      pixels[i] = 0xFF000000 | (r << 16) | (g << 8) | b;
    }
    return pixels;
  }
}
