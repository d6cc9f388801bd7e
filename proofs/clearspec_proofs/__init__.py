"""clearspec's proof obligations: Z3 runs the model's own transitions on symbolic values.

Entry points: :func:`clearspec_proofs.runner.prove_all` and ``clearspec prove``.
"""
