"""``clearspec simulate``: replay real price paths through a population of accounts.

The pieces, each usable on its own:

* :mod:`~clearspec.simulate.paths`: price files read exactly into feed prices, built-in examples;
* :mod:`~clearspec.simulate.population`: the seeded population of accounts;
* :mod:`~clearspec.simulate.index`: the health index (which accounts an update can have hurt);
* :mod:`~clearspec.simulate.engine`: the replay through :func:`clearspec.transition.step`;
* :mod:`~clearspec.simulate.report`, :mod:`~clearspec.simulate.plots`: JSON, CSV and PNG output;
* :mod:`~clearspec.simulate.sweep`: grids of parameter sets behind an executor seam;
* :mod:`~clearspec.simulate.runner`, :mod:`~clearspec.simulate.cli`: the command line.

See guides/simulate.md.
"""
