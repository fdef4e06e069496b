"""`keras-dalle train`: the training stages from the command line."""

from keras_dalle import presets
from keras_dalle.cli.common import positive_int
from keras_dalle.data import sources
from keras_dalle.training.distribute import STRATEGIES


def cmd_train(args):
    """Runs `pipeline.train_stages` with the flags; which applies to which stage is its rule."""
    from keras_dalle.training import pipeline

    pipeline.train_stages(
        args.stage, args.data, args.out, strategy=args.strategy, tokenizer=args.tokenizer, init_from=args.init_from,
        scorer=args.scorer,
        preset=args.preset, epochs=args.epochs, batch_size=args.batch_size, steps_per_epoch=args.steps_per_epoch,
        seed=args.seed, mixed_precision=args.mixed_precision, jit_compile=args.jit_compile,
        learning_rate=args.learning_rate, validation_split=args.validation_split, early_stopping=args.early_stopping,
        adversarial_weight=args.adversarial_weight, adversarial_start=args.adversarial_start, dropout=args.dropout,
        embedding_noise=args.embedding_noise, embedding_mixing=args.embedding_mixing,
        two_object_fraction=args.two_object_fraction, word_attention=args.word_attention,
        sentence_layers=args.sentence_layers, word_positions=args.word_positions,
        sample_prompts=sources.read_prompts(args.sample_prompts) if args.sample_prompts else None,
    )
    return 0


def add_commands(commands):
    """Adds `train` to the `keras-dalle` subparsers."""
    train = commands.add_parser("train", help="train a model stage on a folder of captioned images")
    train.add_argument("--stage", choices=["tokenizer", "generator", "scorer", "all", "decoder", "prior"], required=True,
                       help="all = tokenizer, then generator, then the scorer that reranks its candidates; decoder = "
                            "the unCLIP decoder (pictures from the scorer's image embeddings: vary, edit, interpolate); "
                            "prior = caption -> the scorer's image embedding (text-to-image through the decoder)")
    train.add_argument("--data", required=True,
                       help="a folder of captioned images or packed shards, or 'shapes' (the built-in shapes, endless)")
    train.add_argument("--out", required=True, help="run folder: model, checkpoints, logs, grids")
    train.add_argument("--preset", choices=list(presets.PRESETS), default="small",
                       help="model sizes and learning rates (keras_dalle/presets.py)")
    train.add_argument("--epochs", type=positive_int, default=None,
                       help="passes over the data (default 10; the generator on a folder: about 6,500 steps, 10 to 100 passes)")
    train.add_argument("--batch-size", type=positive_int, default=32)
    train.add_argument("--steps-per-epoch", type=positive_int, default=None)
    train.add_argument("--tokenizer", default=None, help="trained image tokenizer: its .keras file, or a text-to-image model's "
                       "(a file or a shipped name such as shapes_small), whose tokenizer is used (default: RUN/image_tokenizer.keras)")
    train.add_argument("--scorer", default=None,
                       help="--stage decoder or prior: the trained scorer whose image embeddings they use, a file or a shipped "
                       "name such as shapes_scorer (default: RUN/scorer.keras)")
    train.add_argument("--learning-rate", type=float, default=None,
                       help="default: the preset's (for the generator, the peak of its warmup-cosine schedule)")
    train.add_argument("--validation-split", type=float, default=None,
                       help="fraction of a folder held out for validation (default 0.1, for the generator only where "
                            "captions repeat; 0 = none); the model saved is the best epoch's (see the README)")
    train.add_argument("--early-stopping", type=positive_int, default=None, metavar="PATIENCE",
                       help="stop after PATIENCE epochs without a better epoch (tokenizer: validation PSNR; generator: "
                            "tuning accuracy, or validation loss on packs; scorer: validation R-precision)")
    train.add_argument("--dropout", type=float, default=None,
                       help="generator dropout (default: the preset's; 0.1 under 20,000 training images whose captions repeat)")
    train.add_argument("--word-attention", action="store_true",
                       help="generator: the text encoder attends within words only (see the README's lever table)")
    train.add_argument("--sentence-layers", type=positive_int, default=None, metavar="N",
                       help="generator, with --word-attention: the text encoder's top N layers attend over the whole caption")
    train.add_argument("--word-positions", action="store_true",
                       help="generator: add an embedding of each text byte's word index to the text encoder's input")
    train.add_argument("--embedding-noise", type=float, default=None, metavar="NORM",
                       help="decoder: train also on image embeddings moved off their points by a random vector of norm "
                            "up to NORM (noise augmentation; default 0, none)")
    train.add_argument("--embedding-mixing", type=float, default=None, metavar="P",
                       help="decoder: with probability P move a training picture's image embedding part of the way "
                            "(under half) toward another picture's, the target unchanged: points between two pictures "
                            "are taught to decode as the nearer one (default 0, never)")
    train.add_argument("--init-from", default=None, metavar="MODEL",
                       help="fine-tune: start the generator stage from this trained text-to-image .keras model (and its "
                            "tokenizer), or the scorer stage from this trained scorer (a file or a shipped name)")
    train.add_argument("--two-object-fraction", type=float, default=None,
                       help="built-in shapes data: share of two-object pictures (default 0.5)")
    train.add_argument("--sample-prompts", default=None,
                       help="prompts file for the per-epoch sample grid (default: a handful of the data's captions)")
    train.add_argument("--adversarial-weight", type=float, default=None, help="0 trains without a discriminator")
    train.add_argument("--adversarial-start", type=int, default=None, help="step at which the discriminator starts")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--strategy", choices=STRATEGIES, default="default",
                       help="tf.distribute strategy; multi_worker reads TF_CONFIG (see the README)")
    train.add_argument("--mixed-precision", action="store_true", help="mixed_float16 on a GPU, mixed_bfloat16 on CPU/TPU")
    train.add_argument("--jit-compile", action="store_true", help="compile the train steps with XLA")
    train.set_defaults(run=cmd_train)
