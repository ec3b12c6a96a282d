from archestra import create_app

app = create_app()
