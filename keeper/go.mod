module staged/keeper

go 1.22
