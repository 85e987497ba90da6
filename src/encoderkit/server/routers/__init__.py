"""One router per capability; each module has ``router(state) -> fastapi.APIRouter``."""
