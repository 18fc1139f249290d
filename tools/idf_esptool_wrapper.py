"""ESP-IDF's ESPTOOL_WRAPPER for espdelta: `idf.py flash` runs esptool as
`python $ESPTOOL_WRAPPER <esptool> --chip ... write_flash @flash_args`
(components/esptool_py/project_include.cmake, ESP-IDF v5.0 to v5.5: <esptool>
is esptool.py's path; later: the word "esptool"). This drops that word and
runs the program named by ESPDELTA_ESPTOOL (default `esptool`, the name of
an espdelta symlink on PATH) with the rest.
"""

import os
import sys

program = os.environ.get("ESPDELTA_ESPTOOL", "esptool")
try:
    os.execvp(program, [program] + sys.argv[2:])
except OSError as e:
    sys.exit(f"cannot run {program} ({e.strerror}); put an `esptool` symlink to "
             "espdelta on PATH or set ESPDELTA_ESPTOOL")
