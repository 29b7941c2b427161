# Sourced by the project's scripts: the tools they call do not talk about themselves, so the first
# thing a newcomer reads is the project's own output. Turbo announces (and sends) anonymous telemetry on
# its first run; npm advertises its updates and asks for funding.
export TURBO_TELEMETRY_DISABLED=1
export DO_NOT_TRACK=1
export NPM_CONFIG_UPDATE_NOTIFIER=false
export NPM_CONFIG_FUND=false
