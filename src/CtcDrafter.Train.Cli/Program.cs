return CtcDrafter.Train.Cli.TrainCli.Run(args);
