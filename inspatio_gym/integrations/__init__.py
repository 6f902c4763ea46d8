"""Bridges to RL engines that are not Gymnasium-native (Ray RLlib); each one optional."""
