package org.emovec.cli;

import java.util.concurrent.Callable;

import org.emovec.pipeline.Stories;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

@Command(name = "stories", mixinStandardHelpOptions = true,
        description = {"Stage 1: generate the corpus, one story per (emotion, topic, index) with its own seed, and the neutral dialogues,",
                "into DIR/stories/<emotion>.jsonl. Resumable: a killed run loses only the sequences in flight."})
final class StoriesCommand implements Callable<Integer> {
    @Mixin RunOptions options;

    @Override
    public Integer call() throws Exception {
        try (RunOptions.Run run = options.open()) {
            Stories.run(run.dir(), run.model(), run.settings(), run.sizing(), options.quiet);
            System.out.println("stories: " + run.dir().stories());
        }
        return 0;
    }
}
