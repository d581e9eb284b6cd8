"""Extension objects shared by the app factory, the views and the event handlers."""
from flask_socketio import SocketIO

socketio = SocketIO()
