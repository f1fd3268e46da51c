// cli_hold.cpp: runs the command of `shmkv lock|acquire|claim|claim-random ... -- CMD` as a
// child of the process that holds the grant (cli_hold.hpp).
//
// The child only calls async-signal-safe functions between fork and exec (prctl, getppid,
// write, _exit; execvpe aside): its environment is built before the fork. An exec failure
// travels to the parent as an errno through a close-on-exec pipe, which a successful exec
// closes without writing.
#include "cli_hold.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <system_error>

#include "inspect_output.hpp"

extern char** environ;

namespace cli_hold {

namespace {

// The running command, for the signal handler that passes signals on (0 = none).
volatile sig_atomic_t g_command_pid = 0;

void PassOn(int signal_number) {
  const pid_t pid = g_command_pid;
  if (pid > 0) ::kill(pid, signal_number);
}

// This process's environment with `env`'s variables set (replacing any of the same name).
std::vector<std::string> EnvironmentWith(
    const std::vector<std::pair<std::string, std::string>>& env) {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    bool replaced = false;
    for (const auto& [name, value] : env)
      replaced |=
          entry.size() > name.size() && entry.starts_with(name) && entry[name.size()] == '=';
    if (!replaced) out.emplace_back(entry);
  }
  for (const auto& [name, value] : env) out.push_back(name + "=" + value);
  return out;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// The signal dispositions shmkv takes while the command runs, and gives back afterwards.
class SignalsWhileRunning {
 public:
  explicit SignalsWhileRunning(pid_t command) {
    g_command_pid = command;
    struct sigaction pass_on {
    }, ignore{};
    pass_on.sa_handler = PassOn;  // no SA_RESTART: waitpid returns EINTR, and is called again
    ::sigemptyset(&pass_on.sa_mask);
    ignore.sa_handler = SIG_IGN;
    ::sigemptyset(&ignore.sa_mask);
    for (int i = 0; i < kCount; ++i)
      ::sigaction(kSignals[i], kSignals[i] == SIGTERM || kSignals[i] == SIGHUP ? &pass_on : &ignore,
                  &saved_[i]);
  }
  ~SignalsWhileRunning() {
    for (int i = 0; i < kCount; ++i) ::sigaction(kSignals[i], &saved_[i], nullptr);
    g_command_pid = 0;
  }
  SignalsWhileRunning(const SignalsWhileRunning&) = delete;
  SignalsWhileRunning& operator=(const SignalsWhileRunning&) = delete;

 private:
  static constexpr int kCount = 4;
  static constexpr int kSignals[kCount] = {SIGTERM, SIGHUP, SIGINT, SIGQUIT};
  struct sigaction saved_[kCount] {};
};

[[noreturn]] void ExecInChild(const pid_t parent, int error_pipe, std::vector<char*>& argv,
                              std::vector<char*>& envp) {
  // Killed with its holder: the command never runs on without the grant.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(126);
  ::execvpe(argv[0], argv.data(), envp.data());
  const int err = errno;
  [[maybe_unused]] const ssize_t n = ::write(error_pipe, &err, sizeof err);
  ::_exit(err == ENOENT ? 127 : 126);
}

}  // namespace

int RunCommand(const std::vector<std::string>& argv,
               const std::vector<std::pair<std::string, std::string>>& env) {
  std::vector<std::string> args = argv, environment = EnvironmentWith(env);
  std::vector<char*> arg_pointers = Pointers(args), env_pointers = Pointers(environment);
  int error_pipe[2];
  if (::pipe2(error_pipe, O_CLOEXEC) != 0)
    throw std::system_error(errno, std::generic_category(), "pipe2");
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(error_pipe[0]);
    ::close(error_pipe[1]);
    throw std::system_error(err, std::generic_category(), "fork");
  }
  if (pid == 0) ExecInChild(parent, error_pipe[1], arg_pointers, env_pointers);
  ::close(error_pipe[1]);
  SignalsWhileRunning signals(pid);
  int exec_errno = 0;
  ssize_t n;
  while ((n = ::read(error_pipe[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {
  }
  ::close(error_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof exec_errno))
    inspect_out::Err("shmkv: cannot run '" + argv[0] + "': " + std::strerror(exec_errno));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "waitpid");
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace cli_hold
