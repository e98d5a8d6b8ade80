import sys
from pathlib import Path

# Tests import the helpers beside them (scenario_files) and the packages from the checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
