"""Pure accounting: plain functions over plain values, no I/O."""
