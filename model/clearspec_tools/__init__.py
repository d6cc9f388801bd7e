"""clearspec_tools: what is built on the protocol model, not part of it.

The command line, the conformance vectors (wire codec, generator, runner), the
crash simulator, the example parameter set and its price data. The protocol
package ``clearspec`` imports nothing from here or from the prover
(tests/test_lint.py checks it).
"""
