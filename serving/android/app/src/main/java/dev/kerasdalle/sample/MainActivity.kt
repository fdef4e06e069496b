package dev.kerasdalle.sample

import android.graphics.Bitmap
import android.icu.text.Normalizer2
import android.os.Bundle
import android.widget.Button
import android.widget.EditText
import android.widget.ImageView
import androidx.appcompat.app.AppCompatActivity
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel
import java.util.Random
import java.util.concurrent.Executors
import org.json.JSONObject
import org.tensorflow.lite.Interpreter

/**
 * A prompt field, a Generate button and the picture. Runs the `generate` signature of
 * assets/keras_dalle.tflite (from `python -m export.tflite`) with LiteRT's Interpreter, builtin ops only,
 * and the model's default sampling settings from assets/keras_dalle.json (written beside it by the export).
 * When the file has a `score` signature too (`--scorer` at export), it draws CANDIDATES pictures and
 * shows the one the scorer rates highest, as `keras-dalle generate --candidates 8` does.
 */
class MainActivity : AppCompatActivity() {
    private lateinit var interpreter: Interpreter
    private lateinit var encoder: PromptEncoder
    private var scorerEncoder: PromptEncoder? = null // the scorer's text length, with a `score` signature
    private lateinit var defaults: JSONObject
    private val worker = Executors.newSingleThreadExecutor()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        interpreter = Interpreter(loadModel("keras_dalle.tflite"))
        defaults = JSONObject(assets.open("keras_dalle.json").bufferedReader().use { it.readText() })
            .getJSONObject("sampling_defaults")
        val textLength = interpreter.getInputTensorFromSignature("prompt_ids", SIGNATURE).shape()[1]
        val nfkcCasefold = Normalizer2.getNFKCCasefoldInstance()
        encoder = PromptEncoder(textLength) { nfkcCasefold.normalize(it) }
        if (SCORE in interpreter.signatureKeys) {
            val scorerLength = interpreter.getInputTensorFromSignature("prompt_ids", SCORE).shape()[1]
            scorerEncoder = PromptEncoder(scorerLength) { nfkcCasefold.normalize(it) }
        }

        val prompt = findViewById<EditText>(R.id.prompt)
        val picture = findViewById<ImageView>(R.id.picture)
        val button = findViewById<Button>(R.id.generate)
        button.setOnClickListener {
            val text = prompt.text.toString()
            val (ids, scorerIds) = try {
                Pair(encoder.encode(text), scorerEncoder?.encode(text))
            } catch (error: IllegalArgumentException) {
                prompt.error = error.message
                return@setOnClickListener
            }
            button.isEnabled = false
            worker.execute {
                val bitmap = generate(ids, scorerIds, Random().nextLong())
                runOnUiThread {
                    picture.setImageBitmap(bitmap)
                    button.isEnabled = true
                }
            }
        }
    }

    /**
     * prompt ids [L] -> the picture, upscaled 8x without smoothing. With scorer ids [L'], the best of
     * CANDIDATES pictures by the `score` signature (one batch-1 call per candidate).
     */
    private fun generate(ids: IntArray, scorerIds: IntArray?, seed: Long): Bitmap {
        val size = interpreter.getOutputTensorFromSignature("image", SIGNATURE).shape()[1]
        val random = Random(seed)
        val rgb = if (scorerIds == null) {
            draw(ids, random)
        } else {
            val drawn = List(CANDIDATES) { draw(ids, random) }
            drawn[Candidates.best(FloatArray(CANDIDATES) { score(drawn[it], scorerIds) })]
        }
        val pixels = Bitmap.createBitmap(Pictures.argbFromRgb(rgb, size), size, size, Bitmap.Config.ARGB_8888)
        return Bitmap.createScaledBitmap(pixels, size * 8, size * 8, false)
    }

    /** One picture from the `generate` signature: row-major RGB bytes [S * S * 3]. */
    private fun draw(ids: IntArray, random: Random): ByteArray {
        val tokens = interpreter.getInputTensorFromSignature("noise", SIGNATURE).shape()[1]
        val size = interpreter.getOutputTensorFromSignature("image", SIGNATURE).shape()[1]
        val inputs = mapOf<String, Any>(
            "prompt_ids" to arrayOf(ids),
            "noise" to arrayOf(FloatArray(tokens) { random.nextFloat() }), // uniform [0, 1), one per image token
            "temperature" to floatArrayOf(defaults.getDouble("temperature").toFloat()),
            "top_k" to intArrayOf(defaults.getInt("top_k")),
            "top_p" to floatArrayOf(defaults.getDouble("top_p").toFloat()),
            "cfg_scale" to floatArrayOf(defaults.getDouble("cfg_scale").toFloat()),
        )
        val image = ByteBuffer.allocateDirect(size * size * 3).order(ByteOrder.nativeOrder())
        val outputs = mutableMapOf<String, Any>("image" to image, "tokens" to arrayOf(IntArray(tokens)))
        interpreter.runSignature(inputs, outputs, SIGNATURE)
        val rgb = ByteArray(size * size * 3)
        image.rewind()
        image.get(rgb)
        return rgb
    }

    /** The `score` signature: cosine similarity of an RGB picture [S * S * 3] and the prompt's scorer ids. */
    private fun score(rgb: ByteArray, scorerIds: IntArray): Float {
        val image = ByteBuffer.allocateDirect(rgb.size).order(ByteOrder.nativeOrder())
        image.put(rgb)
        image.rewind()
        val score = FloatArray(1)
        interpreter.runSignature(
            mapOf<String, Any>("image" to image, "prompt_ids" to arrayOf(scorerIds)),
            mutableMapOf<String, Any>("score" to score),
            SCORE,
        )
        return score[0]
    }

    private fun loadModel(name: String): MappedByteBuffer =
        assets.openFd(name).use { descriptor ->
            FileInputStream(descriptor.fileDescriptor).channel.use { channel ->
                channel.map(FileChannel.MapMode.READ_ONLY, descriptor.startOffset, descriptor.declaredLength)
            }
        }

    override fun onDestroy() {
        worker.shutdown()
        interpreter.close()
        super.onDestroy()
    }

    private companion object {
        const val SIGNATURE = "generate"
        const val SCORE = "score"
        const val CANDIDATES = 8 // best of 8, as `keras-dalle demo`
    }
}
