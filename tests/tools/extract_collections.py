# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Extract selected collections from the pip ``ansible`` wheel into an ``ansible_collections`` tree.

Galaxy cannot be reached from the machines this project is built on, but PyPI can, and the ``ansible``
package wheel bundles the collections this collection depends on. Installing that package whole costs
about 470 MB; extracting the two collections we need costs about 16 MB.
"""

import argparse
import os
import shutil
import sys
import zipfile


def extract(wheel_path, dest_root, collections):
    prefixes = {}
    for fqcn in collections:
        namespace, name = fqcn.split(".", 1)
        prefixes[fqcn] = "ansible_collections/%s/%s/" % (namespace, name)
    with zipfile.ZipFile(wheel_path) as wheel:
        members = wheel.namelist()
        for fqcn, prefix in prefixes.items():
            selected = [m for m in members if m.startswith(prefix)]
            if not selected:
                raise SystemExit("%s does not contain %s" % (wheel_path, fqcn))
            target = os.path.join(dest_root, prefix)
            staging = target.rstrip("/") + ".partial"
            shutil.rmtree(staging, ignore_errors=True)
            for member in selected:
                relative = member[len(prefix):]
                if not relative or member.endswith("/"):
                    continue
                out_path = os.path.join(staging, relative)
                os.makedirs(os.path.dirname(out_path), exist_ok=True)
                with wheel.open(member) as source, open(out_path, "wb") as sink:
                    shutil.copyfileobj(source, sink)
            shutil.rmtree(target, ignore_errors=True)
            os.rename(staging, target.rstrip("/"))
            print("extracted %s (%d files) into %s" % (fqcn, len(selected), target))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel")
    parser.add_argument("dest_root", help="directory that will hold ansible_collections/")
    parser.add_argument("collections", nargs="+", help="FQCNs such as ansible.posix")
    args = parser.parse_args(argv)
    extract(args.wheel, args.dest_root, args.collections)


if __name__ == "__main__":
    sys.exit(main())
