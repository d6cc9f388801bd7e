"""``clearspec simulate``: replay real price paths through a population of accounts.

The pieces, each usable on its own:

* :mod:`~clearspec_tools.simulate.paths`: price files read exactly into feed prices, built-in examples;
* :mod:`~clearspec_tools.simulate.population`: the seeded population of accounts;
* :mod:`~clearspec_tools.simulate.index`: the health index (which accounts an update can have hurt);
* :mod:`~clearspec_tools.simulate.engine`: the replay through :func:`clearspec.transition.step`;
* :mod:`~clearspec_tools.simulate.report`, :mod:`~clearspec_tools.simulate.plots`: JSON, CSV and PNG output;
* :mod:`~clearspec_tools.simulate.sweep`: grids of parameter sets behind an executor seam;
* :mod:`~clearspec_tools.simulate.runner`, :mod:`~clearspec_tools.simulate.cli`: the command line.

See guides/simulate.md.
"""
