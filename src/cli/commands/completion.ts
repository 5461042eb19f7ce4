import { Argument, type Command } from 'commander';
import { examples, type CliContext } from '../context.js';
import { completionScript, SHELLS, type Shell } from '../help/completion.js';

/** `triad completion bash|zsh|fish`: the completion script, from the same command tree as --help. */
export function registerCompletion(program: Command, ctx: CliContext): void {
  examples(
    program
      .command('completion')
      .description('print a shell completion script for triad: commands, options, and *.yaml files after -p/--policy')
      .addArgument(new Argument('<shell>', 'the shell to complete in').choices(SHELLS))
      .action((shell: Shell, _opts: unknown, cmd: Command) => {
        ctx.output(cmd).stdout.write(completionScript(program, shell));
      }),
    [
      'source <(triad completion bash)                     # now, or in ~/.bashrc',
      'triad completion bash | sudo tee /etc/bash_completion.d/triad',
      'triad completion zsh > "${fpath[1]}/_triad"         # then restart zsh',
      'triad completion fish > ~/.config/fish/completions/triad.fish',
    ],
  );
}
