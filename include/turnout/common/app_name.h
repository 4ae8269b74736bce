// App names. They appear in admin paths (/v1/routes/{host}/{app}), logs, the state file and the
// config file, so one grammar serves everywhere: [A-Za-z0-9_.-]+. The config loader and the route
// builder (which applies admin changes) both check it here, so every app the API can create can
// also be written in the config, and the reverse.
#pragma once

#include <string_view>

namespace turnout {

// True for a non-empty name of ASCII letters, digits, '_', '.' and '-' only.
bool valid_app_name(std::string_view name);

}  // namespace turnout
