# bash completion for salvo: subcommands and their flags, read from the command's own --help when
# asked (so it cannot fall behind the command it completes). A flag that takes a value completes
# file names (bash's default). Installed as share/bash-completion/completions/salvo.

# The flags in `salvo [SUBCOMMAND] --help`: CLI11 starts an option line with two spaces and '-',
# and writes "-h,--help", "--gso{false},--no-gso{true}" (defaults in braces) and
# "--bind TEXT REQUIRED" (a value's type), the description from column 30 on.
_salvo_flags() {
  "$@" --help 2>/dev/null |
    sed -n 's/^  \(-[^ ]*\).*/\1/p' | sed 's/{[^}]*}//g' | tr ',' '\n' |
    sed -n 's/^\(--\{0,1\}[A-Za-z0-9][-A-Za-z0-9]*\)$/\1/p'
}

# The subcommands in `salvo --help`.
_salvo_subcommands() {
  "$1" --help 2>/dev/null | sed -n '/^Subcommands:/,$ s/^  \([a-z][-a-z0-9]*\) .*/\1/p'
}

_salvo() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local prev=""
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  local salvo=${COMP_WORDS[0]}
  [[ -x $salvo && ! -d $salvo ]] || salvo=$(type -P salvo) || return 0

  local sub="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      -*) ;;
      *) sub=${COMP_WORDS[i]}; break ;;
    esac
  done

  COMPREPLY=()
  if [[ -n $sub && $prev == -* ]]; then
    # The flag before the cursor takes a value ("  --bind TEXT ..." before column 30): leave the
    # word to bash's default, file names.
    local line takes_value="^  ([^ ]*,)?${prev}(\\{[^}]*\\})? [A-Z]"
    while IFS= read -r line; do
      [[ ${line:0:30} =~ $takes_value ]] && return 0
    done < <("$salvo" "$sub" --help 2>/dev/null)
  fi
  if [[ $cur == -* ]]; then
    if [[ -n $sub ]]; then
      mapfile -t COMPREPLY < <(compgen -W "$(_salvo_flags "$salvo" "$sub")" -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -W "$(_salvo_flags "$salvo")" -- "$cur")
    fi
  elif [[ -z $sub ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_salvo_subcommands "$salvo")" -- "$cur")
  fi
  return 0
}
complete -o default -F _salvo salvo
