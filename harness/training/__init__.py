"""The shared SFT recipe: one TRL `SFTTrainer` run, identical for every dataset, one CPU to many GPUs.

- `sft`: the stage (screen -> fit -> save, cached by `train_fingerprint`, the one fingerprint of a
  trained model) and `fit`, which builds the SFTTrainer and trains it;
- `recipe`: the hyper-parameters (a frozen dataclass loaded from `configs/recipes/`);
- `data`: how an experiment assembles each dataset's training set (dedup, N, seed mixing, tags);
- `job`: the chat template to train with and the screening of records against it, written to disk
  as the job that `fit` (in this process or in every rank) reads;
- `model`: the base model and tokenizer in, the finished model directory out (LoRA merged);
- `checkpoints`: which checkpoint a killed run resumes from;
- `launch` and `worker`: `accelerate launch` of several processes, and one rank of it.

Importing this package imports no torch, transformers or trl: each function imports what it needs.
"""
