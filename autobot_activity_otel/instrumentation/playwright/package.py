_instruments = ("playwright >= 1.40, < 2",)
