"""The shared SFT recipe: one TRL `SFTTrainer` run, identical for every dataset, one CPU to many GPUs.

- `sft`: the stage (screen -> fit -> save, cached by `train_fingerprint`, the one fingerprint of a
  trained model) and `fit`, which builds the SFTTrainer and trains it, saving the model at the
  listed steps too (`train.checkpoints`);
- `recipe`: the hyper-parameters (a frozen dataclass loaded from `configs/recipes/`);
- `data`: how an experiment assembles each row's training set, the same for every row unless its
  dataset's `assembly` opts out (dedup, tags, screening, then N, shared instructions, seed mixing);
- `job`: the chat template to train with and the screening of records against it, written to disk
  as the job that `fit` (in this process or in every rank) reads;
- `model`: the base model and tokenizer in, the finished model directory out (LoRA merged);
- `checkpoints`: which checkpoint a killed run resumes from;
- `launch` and `worker`: `accelerate launch` of several processes, and one rank of it.

Importing this package imports no torch, transformers or trl: each function imports what it needs.
"""
