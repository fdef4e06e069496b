"""Stage two's parts: the text encoder, the fused autoregressive generator, the text-conditional discriminator.

Fusion: the generator's sequence is the text encoder's states (L text positions) followed by
the image-token embeddings (N positions: a begin token, then y_1 .. y_{N-1}), each with
position and modality embeddings; with `image_grid_positions` the image input at position t
also gets the row and column embeddings of the grid cell it predicts (axial positions, as in
DALL-E and DALLE-pytorch). A prefix mask lets text positions see the (non-pad) text
and image positions see the text and the image positions up to their own, so the output at
image position t predicts y_{t+1}: p(y_t | y_<t, text).
"""

import keras
from keras import ops

from keras_dalle.layers.attention import settle_into_cache
from keras_dalle.layers.composite import CompositeLayer
from keras_dalle.layers.convolution import apply_strided_convolutions, strided_convolutions
from keras_dalle.layers.embedding import OneHotEmbedding
from keras_dalle.layers.masks import decoding_mask_row, padding_mask, prefix_mask, row_start, word_indices, word_mask
from keras_dalle.layers.position_embedding import GridPositionEmbedding, PositionEmbedding
from keras_dalle.layers.transformer import TransformerBlock


@keras.saving.register_keras_serializable(package="keras_dalle")
class TextEncoder(CompositeLayer):
    """Token and position embeddings, then a bidirectional Transformer with a padding mask.

    Args:
        vocab_size: text vocabulary (the byte tokenizer's 258).
        max_length: text positions L.
        width, num_layers, num_heads: the Transformer.
        dropout: dropout rate.
        word_attention: bytes attend only to the bytes of their own word, so a word's states
            depend on the word and its position alone: a new pairing of known words ("a purple
            triangle" when training showed purple and triangles only apart) gives known states,
            and the generator does the binding. False: every byte sees the whole caption.
        sentence_layers: with `word_attention`, the top this-many blocks attend over the whole
            caption again, so words can bind ("blue" to the "square" after it) on top of word
            states that the blocks below kept to themselves. 0: every block stays within words.
        word_positions: also add a learned embedding of each byte's word index (`word_indices`),
            so "the word after the color word" is one fixed offset whatever the words' lengths.

    Call: int ids [B, T] -> states float [B, T, width], T <= L (a prompt's trailing padding may
    be cut: pads are masked, so the other states stay the same).
    """

    def __init__(
        self, vocab_size, max_length, width, num_layers, num_heads, dropout=0.0, word_attention=False,
        sentence_layers=0, word_positions=False, **kwargs,
    ):
        super().__init__(**kwargs)
        if sentence_layers and not word_attention:
            raise ValueError("sentence_layers needs word_attention: without it every block already sees the whole caption")
        if not 0 <= sentence_layers < num_layers:
            raise ValueError(f"sentence_layers must be in [0, {num_layers}) (the text encoder's layers), got {sentence_layers}")
        self.vocab_size = vocab_size
        self.max_length = max_length
        self.width = width
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.dropout = dropout
        self.word_attention = word_attention
        self.sentence_layers = sentence_layers
        self.word_positions = word_positions
        self.token_embedding = keras.layers.Embedding(vocab_size, width, name="token_embedding")
        self.positions = PositionEmbedding(max_length, name="positions")
        # Word indices run 0 .. L - 1 (there are fewer spaces than bytes).
        self.word_embedding = keras.layers.Embedding(max_length, width, name="word_embedding") if word_positions else None
        self.blocks = [TransformerBlock(num_heads, dropout=dropout, name=f"block_{i}") for i in range(num_layers)]
        self.norm = keras.layers.LayerNormalization(epsilon=1e-5, name="norm")

    def call(self, token_ids, training=None):
        word_blocks = len(self.blocks) - self.sentence_layers if self.word_attention else 0
        masks = []  # one (B, L, L) mask per block, each kind built only if a block uses it
        if word_blocks:
            masks += [word_mask(token_ids)] * word_blocks
        if word_blocks < len(self.blocks):
            sentence_mask = padding_mask(token_ids)[:, None, :] | ops.zeros((1, ops.shape(token_ids)[1], 1), "bool")
            masks += [sentence_mask] * (len(self.blocks) - word_blocks)
        x = self.positions(self.token_embedding(token_ids))  # (B, L, D)
        if self.word_positions:
            x = x + self.word_embedding(word_indices(token_ids))
        for block, mask in zip(self.blocks, masks):
            x = block(x, attention_mask=mask, training=training)
        return self.norm(x)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "max_length": self.max_length,
            "width": self.width,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "dropout": self.dropout,
            "word_attention": self.word_attention,
            "sentence_layers": self.sentence_layers,
            "word_positions": self.word_positions,
        }


@keras.saving.register_keras_serializable(package="keras_dalle")
class Generator(CompositeLayer):
    """Autoregressive Transformer over [text states ; image-token embeddings], with a codebook head.

    Args:
        codebook_size: K image tokens (id K is the begin token of the image part).
        text_length: L text positions.
        image_length: N image tokens.
        width, num_layers, num_heads: the Transformer.
        dropout: dropout rate.
        image_grid_positions: also add row and column embeddings of the predicted cell to image
            inputs (N must be a square); False keeps 1-D positions only (models saved before
            this option).

    `call` is teacher-forced (all N image inputs at once); `prefill` and `decode_step` compute
    the same logits one token at a time over a key/value cache: a list of 4 * num_layers tensors,
    each layer's settled keys and values [B, num_heads, L + N, width / num_heads] and its row keys
    and values [B, num_heads, R, width / num_heads]. A step writes into the row cache; `settle_row`
    moves a row into the settled cache (see `CachedMultiHeadAttention`). R (`row_length`) is the
    token grid's side, or N where N is not a square.
    """

    def __init__(
        self, codebook_size, text_length, image_length, width, num_layers, num_heads, dropout=0.0,
        image_grid_positions=False, **kwargs,
    ):
        super().__init__(**kwargs)
        grid_side = int(round(image_length**0.5))
        if image_grid_positions and grid_side**2 != image_length:
            raise ValueError(f"image_grid_positions needs a square number of image tokens, got {image_length}")
        self.image_grid_positions = image_grid_positions
        self.codebook_size = codebook_size
        self.text_length = text_length
        self.image_length = image_length
        self.width = width
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.dropout = dropout
        self.begin_token = codebook_size
        self.row_length = grid_side if grid_side**2 == image_length else image_length
        self.text_projection = keras.layers.Dense(width, name="text_projection")
        self.image_embedding = OneHotEmbedding(codebook_size + 1, width, name="image_embedding")  # int8 exports store it once
        self.positions = PositionEmbedding(text_length + image_length, name="positions")
        self.grid_positions = GridPositionEmbedding(grid_side, grid_side, name="grid_positions") if image_grid_positions else None
        self.modality = keras.layers.Embedding(2, width, name="modality")
        self.blocks = [TransformerBlock(num_heads, dropout=dropout, name=f"block_{i}") for i in range(num_layers)]
        self.norm = keras.layers.LayerNormalization(epsilon=1e-5, name="norm")
        self.head = keras.layers.Dense(codebook_size, dtype="float32", name="head")  # float32 logits under mixed precision

    def _embed_text(self, text_states):
        x = self.text_projection(text_states) + self.modality(ops.zeros((1, 1), "int32"))
        return self.positions(x)  # (B, L, D)

    def _embed_image(self, image_inputs, start):
        x = self.image_embedding(image_inputs) + self.modality(ops.ones((1, 1), "int32"))
        if self.grid_positions is not None:
            x = self.grid_positions(x, start_index=start)  # input t carries the cell of y_{t+1}
        return self.positions(x, start_index=self.text_length + start)  # (B, n, D)

    def shift_right(self, image_tokens):
        """Teacher-forcing inputs: [begin, y_1 .. y_{N-1}] from targets [y_1 .. y_N]."""
        begin = ops.full((ops.shape(image_tokens)[0], 1), self.begin_token, "int32")
        return ops.concatenate([begin, ops.cast(image_tokens[:, :-1], "int32")], axis=1)

    def call(self, text_states, text_mask, image_tokens, training=None):
        """Teacher-forced logits: text [B, L, Dt], mask bool [B, L], targets int [B, N] -> [B, N, K]."""
        x = ops.concatenate([self._embed_text(text_states), self._embed_image(self.shift_right(image_tokens), 0)], 1)
        mask = prefix_mask(text_mask, self.image_length)  # (B, L+N, L+N)
        for block in self.blocks:
            x = block(x, attention_mask=mask, training=training)
        return self.head(self.norm(x[:, self.text_length :]))  # (B, N, K)

    def empty_cache(self, batch_size):
        """Zeros: a list of 4 * num_layers tensors, each layer's settled keys and values
        [B, num_heads, L + N, head_dim], then its row keys and values [B, num_heads, R, head_dim]."""
        head_dim = self.width // self.num_heads
        settled = ops.zeros((batch_size, self.num_heads, self.text_length + self.image_length, head_dim))
        row = ops.zeros((batch_size, self.num_heads, self.row_length, head_dim))
        return [settled, settled, row, row] * self.num_layers

    def _row_cache(self, keys):
        """Zeros of a row cache beside settled keys [B, H, L + N, head_dim]: [B, H, R, head_dim], their dtype."""
        return ops.zeros_like(keys[:, :, : self.row_length])

    def prefill(self, text_states, text_mask):
        """Runs the text and the begin token once: -> (logits of y_1 [B, K], cache).

        Attention runs over these T + 1 positions alone (the cache starts from their keys and
        values, zeros elsewhere), and the top block computes its output for the begin token only:
        the other positions' top outputs feed nothing. Same logits as `call`'s first image position.

        The text may come without its trailing padding: text_states [B, T, Dt] and text_mask
        [B, T] with T <= L. Its keys then fill the cache's last T text slots (L - T .. L - 1) and
        the first L - T stay zeros, so the decoding steps read the cache and the image slots as
        after a full-length prefill, with `text_mask_for_cache`'s mask. Pads are masked
        everywhere, so the logits are the same (float rounding aside).
        """
        batch, text_steps = ops.shape(text_states)[0], text_states.shape[1]
        begin = ops.full((batch, 1), self.begin_token, "int32")
        x = ops.concatenate([self._embed_text(text_states), self._embed_image(begin, 0)], axis=1)  # (B, T+1, D)
        mask = prefix_mask(text_mask, 1)  # (B, T+1, T+1)
        cache = []
        for i, block in enumerate(self.blocks):
            top = i == len(self.blocks) - 1
            x, (keys, values) = block(
                x, attention_mask=mask[:, -1:] if top else mask, new_cache_length=self.text_length + self.image_length,
                new_cache_offset=self.text_length - text_steps, last_query_only=top,
            )  # x: (B, T+1, D), then (B, 1, D) after the top block; keys, values (B, H, L+N, head_dim)
            cache += [keys, values, self._row_cache(keys), self._row_cache(values)]
        return self.head(self.norm(x[:, -1])), cache

    def text_mask_for_cache(self, text_mask):
        """The decoding steps' text mask [B, L] for a cache that `prefill` started from text_mask
        [B, T]: False for the L - T empty slots, then text_mask."""
        empty_slots = self.text_length - text_mask.shape[1]
        return ops.pad(text_mask, ((0, 0), (empty_slots, 0))) if empty_slots else text_mask

    def decode_step(self, token, step, text_mask, cache):
        """Feeds y_step (int [B]) at image position `step` (1..N-1): -> (logits of y_{step+1} [B, K], cache).

        The step's keys and values go to its row cache; the rows before it must be settled
        (`settle_row` after each row's last step)."""
        x = self._embed_image(ops.cast(token, "int32")[:, None], step)  # (B, 1, D)
        mask = decoding_mask_row(text_mask, self.image_length, self.row_length, step)  # (B, 1, L + N + R)
        slot = step - row_start(step, self.row_length)
        updated = []
        for i, block in enumerate(self.blocks):
            x, layer_cache = block(x, attention_mask=mask, cache=tuple(cache[4 * i : 4 * i + 4]), cache_index=slot)
            updated += list(layer_cache)
        return self.head(self.norm(x[:, -1])), updated

    def settle_row(self, step, cache):
        """The cache with the row of image position `step` moved into the settled cache, up to `step`
        (its later slots are settled by a later call; the settled slots a step reads are those
        before its row, so settling a row twice, or in part, changes nothing it reads)."""
        start = row_start(step, self.row_length)
        first = self.text_length + ops.maximum(start, 1)  # the begin token's slot came from the prefill
        stop, offset = self.text_length + step + 1, self.text_length + start
        settled = []
        for i in range(self.num_layers):
            keys, values, row_keys, row_values = cache[4 * i : 4 * i + 4]
            settled += [
                settle_into_cache(keys, row_keys, first, stop, offset), settle_into_cache(values, row_values, first, stop, offset),
                row_keys, row_values,
            ]
        return settled

    def get_config(self):
        return {
            **super().get_config(),
            "codebook_size": self.codebook_size,
            "text_length": self.text_length,
            "image_length": self.image_length,
            "width": self.width,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "dropout": self.dropout,
            "image_grid_positions": self.image_grid_positions,
        }


@keras.saving.register_keras_serializable(package="keras_dalle")
class TextConditionalDiscriminator(CompositeLayer):
    """Judges (picture, caption) pairs: a projection discriminator.

    logit = w . phi(picture) + <text_embedding(caption), phi(picture)>, where phi is a strided
    CNN with global average pooling and the caption embedding is the mean of its byte embeddings.

    Args:
        channels: widths of the strided 4x4 convolutions.
        vocab_size: text vocabulary.

    Call: pixels float [B, S, S, 3] in [-1, 1], caption ids int [B, L] -> logits [B].
    """

    def __init__(self, channels, vocab_size, **kwargs):
        super().__init__(**kwargs)
        self.channels = tuple(channels)
        self.vocab_size = vocab_size
        self.convs, self.norms = strided_convolutions(self.channels)
        self.image_logit = keras.layers.Dense(1, dtype="float32", name="image_logit")
        self.text_embedding = keras.layers.Embedding(vocab_size, self.channels[-1], name="text_embedding")

    def call(self, pixels, caption_ids):
        x = apply_strided_convolutions(self.convs, self.norms, pixels)
        features = ops.mean(x, axis=(1, 2))  # (B, C)
        real = ops.cast(padding_mask(caption_ids), features.dtype)[..., None]  # (B, L, 1)
        text = ops.sum(self.text_embedding(caption_ids) * real, axis=1) / ops.maximum(ops.sum(real, axis=1), 1.0)
        projection = ops.cast(ops.sum(features * text, axis=-1), "float32")  # float32 logits under mixed precision
        return self.image_logit(features)[:, 0] + projection  # (B,)

    def get_config(self):
        return {**super().get_config(), "channels": list(self.channels), "vocab_size": self.vocab_size}


@keras.saving.register_keras_serializable(package="keras_dalle")
class EmbeddingPrefix(CompositeLayer):
    """An image embedding as condition states: float [B, E] -> [B, positions, width], a dense
    projection to `positions` states, layer-normalized as the text encoder's are (the unCLIP
    decoder puts them before the caption's states; a zero embedding, the null condition, gives
    the projection's learned bias).

    Args:
        positions: P condition positions made from one embedding.
        width: the text encoder's width, so the prefix and the caption share the generator's input projection.
    """

    def __init__(self, positions, width, **kwargs):
        super().__init__(**kwargs)
        if positions < 1:
            raise ValueError(f"positions must be >= 1, got {positions}")
        self.positions = positions
        self.width = width
        self.projection = keras.layers.Dense(positions * width, name="projection")
        self.norm = keras.layers.LayerNormalization(epsilon=1e-5, name="norm")

    def call(self, embedding, training=None):
        states = self.projection(embedding)  # (B, P * D)
        return self.norm(ops.reshape(states, (-1, self.positions, self.width)))  # (B, P, D)

    def get_config(self):
        return {**super().get_config(), "positions": self.positions, "width": self.width}
