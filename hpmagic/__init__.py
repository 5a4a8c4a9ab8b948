"""hpmagic"""
