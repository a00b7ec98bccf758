module staged/keeper

go 1.23
