package org.emovec.cli;

import java.io.IOException;
import java.io.UncheckedIOException;

import org.emovec.engine.EmovecException;
import org.emovec.gguf.GgufException;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The emovec command line. Exit codes: 0 success, 1 runtime failure (bad model file, out of memory, ...),
 * 2 usage error (unknown option, missing argument).
 */
@Command(name = "emovec", mixinStandardHelpOptions = true, version = "emovec 0.1.0",
        description = "Find and test emotion vectors inside open-weight LLMs (GGUF, over llama.cpp).",
        subcommands = {RunCommand.class, StoriesCommand.class, ExtractCommand.class, ValidateCommand.class, ReportCommand.class, SweepCommand.class,
                InfoCommand.class, MakeModelCommand.class, GenerateCommand.class, CaptureCommand.class, ControlVectorCommand.class, BenchCommand.class, CommandLine.HelpCommand.class})
public final class Main {
    public static void main(String[] args) {
        System.exit(run(args));
    }

    public static int run(String... args) {
        boolean debug = java.util.Arrays.asList(args).contains("--debug") || System.getenv("EMOVEC_DEBUG") != null;
        CommandLine cli = new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true).setExpandAtFiles(false); // @FILE is ours (--emotions)
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (debug) e.printStackTrace();
            cmd.getErr().println("emovec: " + oneLine(e));
            return 1;
        });
        try {
            return cli.execute(args);
        } catch (VirtualMachineError e) { // picocli hands only Exceptions to the handler
            if (debug) e.printStackTrace();
            System.err.println("emovec: " + oneLine(e));
            return 1;
        }
    }

    /** A failure as one line: our own messages as they are, anything else with its type. */
    static String oneLine(Throwable e) {
        if (e instanceof EmovecException || e instanceof GgufException) return e.getMessage();
        if (e instanceof UncheckedIOException u) e = u.getCause();
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof IOException io && String.valueOf(io.getMessage()).contains("No space left on device")) {
                Object file = io instanceof java.nio.file.FileSystemException f && f.getFile() != null ? f.getFile() : "a result file";
                return EmovecException.cannotWrite(file, io).getMessage();
            }
        }
        if (e instanceof java.nio.file.NoSuchFileException n) return n.getFile() + ": no such file";
        if (e instanceof java.nio.file.AccessDeniedException a) return a.getFile() + ": permission denied";
        if (e instanceof IOException) return "I/O error: " + e.getMessage();
        if (e instanceof OutOfMemoryError) return "Java ran out of heap memory: raise -Xmx (EMOVEC_JAVA_OPTS) or lower the sizes";
        return e.getClass().getSimpleName() + ": " + e.getMessage() + " (run with --debug for the stack trace)";
    }
}
