"""The Hyperopt back end: the space as ``hp.*`` expressions, and Ray's searcher handing flat configs."""
