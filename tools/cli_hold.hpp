// cli_hold.hpp: `shmkv lock|acquire|claim|claim-random ... -- CMD ARGS...` run a command while
// the shmkv process holds a grant. A grant belongs to the process that took it, so shmkv itself
// stays alive, as the command's parent, until the command ends; then it gives the grant back.
//
// The command can never outlive its grant's holder: it is SIGKILLed if shmkv dies first
// (PR_SET_PDEATHSIG), so a SIGKILLed shmkv frees the grant and stops the command together.
// While the command runs, shmkv ignores SIGINT and SIGQUIT (a terminal sends them to the
// command too, which decides) and passes SIGTERM and SIGHUP on to it; shmkv gives the grant back
// once the command has ended.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace cli_hold {

// Runs argv (argv[0] is looked up in PATH) with the variables of `env` added to this process's
// environment, and waits for it. Returns its exit status, 128 + N if signal N ended it, 127 if
// argv[0] was not found and 126 if it could not be run (a message on stderr names it).
int RunCommand(const std::vector<std::string>& argv,
               const std::vector<std::pair<std::string, std::string>>& env);

}  // namespace cli_hold
