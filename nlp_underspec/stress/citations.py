"""BibTeX entries that more than one stress test cites (each test's ``citation`` joins the ones it rests on)."""

DAMOUR_2020 = """\
@article{damour2020underspecification,
  title   = {Underspecification Presents Challenges for Credibility in Modern Machine Learning},
  author  = {D'Amour, Alexander and Heller, Katherine and Moldovan, Dan and others},
  journal = {arXiv preprint arXiv:2011.03395},
  year    = {2020}
}"""
